impl < __Context > :: bincode :: Decode < __Context > for NodeRecord
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            node_id : :: bincode :: Decode :: decode(decoder) ?, org : ::
            bincode :: Decode :: decode(decoder) ?, node_key : :: bincode ::
            Decode :: decode(decoder) ?, p2p_addr : :: bincode :: Decode ::
            decode(decoder) ?, voter : :: bincode :: Decode :: decode(decoder)
            ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for NodeRecord
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            node_id : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, org : :: bincode :: BorrowDecode ::< '_,
            __Context >:: borrow_decode(decoder) ?, node_key : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            p2p_addr : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, voter : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}