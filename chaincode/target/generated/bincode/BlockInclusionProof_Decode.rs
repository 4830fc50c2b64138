impl < __Context > :: bincode :: Decode < __Context > for BlockInclusionProof
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            index : :: bincode :: Decode :: decode(decoder) ?, count : ::
            bincode :: Decode :: decode(decoder) ?, path : :: bincode ::
            Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for BlockInclusionProof
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            index : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, count : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, path : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}