impl < __Context > :: bincode :: Decode < __Context > for TxBody
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            chain_id : :: bincode :: Decode :: decode(decoder) ?, nonce : ::
            bincode :: Decode :: decode(decoder) ?, valid_until_ms : ::
            bincode :: Decode :: decode(decoder) ?, kind : :: bincode ::
            Decode :: decode(decoder) ?, memo : :: bincode :: Decode ::
            decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for TxBody
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            chain_id : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, nonce : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, valid_until_ms : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, kind : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, memo : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}