impl < __Context > :: bincode :: Decode < __Context > for ProposalRecord
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            change : :: bincode :: Decode :: decode(decoder) ?, approvals : ::
            bincode :: Decode :: decode(decoder) ?, expires_at_ms : :: bincode
            :: Decode :: decode(decoder) ?, executed_at : :: bincode :: Decode
            :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for ProposalRecord
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            change : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, approvals : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, expires_at_ms : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, executed_at : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}